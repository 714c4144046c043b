"""One module per screen: home, interview, result, followup, demo, history."""
