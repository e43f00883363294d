"""
netlab-quote's unit tests: trial-style, reactor-free.
"""
