"""What the session inspector needs beyond the write actions: typed values, the presentation of a
state, differences between states, and the states an operator has seen."""
