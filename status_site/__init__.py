"""Vigie's public site: the aiohttp application, its pages, API and feeds."""
