"""The service's own endpoints: /healthz follows the scheduler, /metrics is valid Prometheus text."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import FakeClock
from monitor.config import parse_config
from monitor.service import create_app
from tests.conftest import service_of, until

CONFIG = """
operators:
  - id: almerys
    name: Almerys
    services:
      - id: pec
        name: PEC
        checks:
          - {id: api, type: tcp, host: 127.0.0.1, port: 9, interval: 1m}
"""


async def test_it_says_healthy_while_the_chores_beat_and_why_not_when_they_stop(aiohttp_client, tmp_path: Path) -> None:
    clock = FakeClock()
    app = create_app(parse_config(CONFIG, env={}).config, tmp_path / "v.db", clock)
    client = await aiohttp_client(app)
    service = service_of(app)
    await until(lambda: service.prober.healthy)  # the local prober process has sent its first batch
    assert (await client.get("/healthz")).status == 200
    service.chores.pause()  # jobs stop running: the heartbeat goes stale
    clock.advance(30)
    response = await client.get("/healthz")
    body = await response.json()
    assert response.status == 503 and body["status"] == "unhealthy"
    assert body["problems"] == ["the scheduler of the service's chores is stuck"]


async def test_it_exposes_metrics_for_every_check_from_the_local_prober(aiohttp_client, tmp_path: Path) -> None:
    app = create_app(parse_config(CONFIG, env={}).config, tmp_path / "v.db")
    client = await aiohttp_client(app)
    service = service_of(app)
    await until(lambda: service.intake is not None and service.intake.written >= 1)
    response = await client.get("/metrics")
    assert response.status == 200
    families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    for name in (
        "vigie_probe_success",
        "vigie_probe_duration_seconds",
        "vigie_check_status",
        "vigie_component_status",
        "vigie_open_incidents",
        "vigie_scheduler_lateness_seconds",
        "vigie_probes_in_flight",
        "vigie_build_info",
        "vigie_scheduler_healthy",
        "vigie_location_up",
        "vigie_store_healthy",
        "vigie_results_waiting",
    ):
        assert name in families, name
    [success] = families["vigie_probe_success"].samples
    assert success.labels == {"operator": "almerys", "service": "pec", "check": "api", "location": "local"} and success.value == 0
    [local] = families["vigie_location_up"].samples
    assert local.labels == {"location": "local"} and local.value == 1


async def test_it_serves_pages_compressed_to_clients_that_accept_it(aiohttp_client, tmp_path: Path) -> None:
    import gzip

    app = create_app(parse_config(CONFIG, env={}).config, tmp_path / "v.db", schedule=False)
    client = await aiohttp_client(app, auto_decompress=False)
    plain = await client.get("/", headers={"Accept-Encoding": "identity"})
    squeezed = await client.get("/", headers={"Accept-Encoding": "gzip, deflate"})
    assert squeezed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in squeezed.headers["Vary"]
    body = await plain.read()
    assert gzip.decompress(await squeezed.read()) == body
    assert squeezed.headers["ETag"] != plain.headers["ETag"]
    again = await client.get("/", headers={"Accept-Encoding": "gzip", "If-None-Match": squeezed.headers["ETag"]})
    assert again.status == 304


async def test_it_lets_a_federation_override_a_template_without_forking(aiohttp_client, tmp_path: Path) -> None:
    override = tmp_path / "brand"
    override.mkdir()
    original = (Path(__file__).parents[2] / "status_site" / "templates" / "_status.html").read_text()
    (override / "_status.html").write_text(original.replace('<span class="status-words">', '<span class="status-words">FNOF · '))
    text = CONFIG.replace("operators:", f"site: {{templates_dir: {str(override)!r}}}\noperators:", 1)
    app = create_app(parse_config(text, env={}).config, tmp_path / "v.db", schedule=False)
    client = await aiohttp_client(app)
    page = await (await client.get("/")).text()
    assert "FNOF · " in page  # the federation's partial won
    assert "<main" in page  # the rest still comes from Vigie's own templates
