// Reads a Vigie through the npm `statuspage.io` client, as a third-party tool would.
// Usage: node statuspage.js BASE_URL  -> prints one JSON object with what each call returned.
"use strict";
const { Statuspage } = require("statuspage.io");

async function main() {
  const client = new Statuspage("vigie");
  // the client is made for *.statuspage.io; its axios instance is public: point it at the Vigie under test
  client.apiClient.defaults.baseURL = process.argv[2];
  const api = client.api;
  const out = {
    summary: await api.getSummary(),
    components: await api.getComponents(),
    unresolved: await api.incidents.getUnresolved(),
    upcoming: await api.scheduledMaintenances.getUpcoming(),
    // 3.3.8's getActive() and getAll() both ask upcoming.json (a slip in the client): ask Statuspage's
    // paths for them through the client's own HTTP instance, as its users end up doing
    active: (await client.apiClient.get("/api/v2/scheduled-maintenances/active.json")).data,
    all: (await client.apiClient.get("/api/v2/scheduled-maintenances.json")).data,
  };
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error.config ? error.config.url : ""} ${error.message}\n`);
  process.exit(1);
});
