"""Command-line interface: one thin module per subcommand (parse, call the library, render)."""
