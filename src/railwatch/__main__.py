from railwatch.cli import main

raise SystemExit(main())
