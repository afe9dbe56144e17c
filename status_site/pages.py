"""(being written)"""

from aiohttp import web


def add_routes(app: web.Application) -> None:
    pass


def error_page(request: web.Request, status: int) -> web.Response:
    return web.Response(status=status, text=str(status))
