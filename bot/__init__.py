"""Our own code for the heroin-withdrawal support assistant (everything that is not a Rasa action)."""
