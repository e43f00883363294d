"""
C{python -m netlab}: the same as the C{netlab} command.
"""

from netlab._cli import main

main()
