"""`python -m hodei_e2e`: the same as the `hodei-e2e` console script."""

from hodei_e2e.entry import main

main()
