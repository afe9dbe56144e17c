"""Channel kinds: every kind the config accepts is built in, and a broken channel module is loud."""

from __future__ import annotations

import subprocess
import sys
import typing

from alerts.channels.apprise_channel import AppriseChannel
from alerts.channels.email import EmailChannel
from alerts.channels.webhook import WebhookChannel
from alerts.registry import channel_kinds
from monitor.config.model import Channel


def test_it_knows_every_channel_type_the_config_accepts() -> None:
    types = typing.get_args(Channel.model_fields["type"].annotation)
    assert channel_kinds() == {"email": EmailChannel, "webhook": WebhookChannel, "apprise": AppriseChannel}
    assert set(channel_kinds()) == set(types)


def test_it_fails_loudly_when_the_email_channel_cannot_be_imported() -> None:
    # aiosmtplib missing: importing the registry must raise, not quietly drop email alerts
    code = "import sys; sys.modules['aiosmtplib'] = None\nfrom alerts.registry import channel_kinds\nprint(channel_kinds())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and not result.stdout, result.stdout
    assert result.stderr.splitlines()[-1] == "ModuleNotFoundError: import of aiosmtplib halted; None in sys.modules"
