"""The staff review console, mounted at /staff by bot.web.app."""
