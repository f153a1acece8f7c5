"""Compression of pages and API answers.

Streams are left alone: gzip holds bytes back until it has a block, which would stall the
server-sent events of a reply. Static files come compressed ahead of time from ServeStatic.
"""

from django.middleware.gzip import GZipMiddleware


class CompressPagesMiddleware(GZipMiddleware):
    def process_response(self, request, response):
        if response.streaming:
            return response
        return super().process_response(request, response)
