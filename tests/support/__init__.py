"""Test helpers shared by every test module: databases, a bot, a recording chat."""
