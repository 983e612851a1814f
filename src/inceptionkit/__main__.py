import sys

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the package is imported
    sys.exit(130)

sys.exit(main())
