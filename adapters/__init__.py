"""Platform adapters: Slack (slack-bolt), Discord (discord.py) and the console.

Each turns its platform's events into bot.events and the core's messages into platform calls.
"""
