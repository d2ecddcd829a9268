"""The web process: the widget, its demo page and chat API, and the staff console."""
