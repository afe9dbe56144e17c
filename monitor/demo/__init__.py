"""The built-in demo: a simulated fleet of operators on loopback and its scripted scenario."""
