"""The network: its files (import), its rows (store) and who carries each audit item."""
