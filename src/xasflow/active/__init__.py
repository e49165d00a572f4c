"""Active learning: choose which sites to simulate next, label them with an oracle, refit with transfer.

A driver on top of ``models``, ``training`` and ``simulation``; nothing in the library imports it.
"""
