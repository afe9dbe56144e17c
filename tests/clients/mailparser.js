// Parses one raw message (stdin) with npm `mailparser`, as a mail client or provider would.
// Prints what it found: the unsubscribe link, the language, the subject.
"use strict";
const { simpleParser } = require("mailparser");

const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", async () => {
  const mail = await simpleParser(Buffer.concat(chunks));
  const list = mail.headers.get("list") || {};
  process.stdout.write(JSON.stringify({
    unsubscribe: list.unsubscribe || null,
    // mailparser gathers the List-* headers under "list"; RFC 8058 one-click is "unsubscribe-post"
    unsubscribePost: (list["unsubscribe-post"] || {}).name || null,
    language: mail.headers.get("content-language") || null,
    subject: mail.subject,
    text: mail.text,
  }));
});
