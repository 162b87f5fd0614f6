"""`python -m hodei_e2e`: the same command as the `hodei-e2e` script."""

from hodei_e2e.cli import main

if __name__ == "__main__":
    main()
