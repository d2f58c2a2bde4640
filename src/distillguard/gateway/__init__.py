"""Inline response: the ASGI proxy and middleware that apply policy actions to live traffic."""
