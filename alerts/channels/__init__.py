"""Alert channels: one module per kind, all behind `Channel.send`."""
