"""What a run reads: its config (and the schemas it is checked against), the prompt data sets, the
rewards, and the optional packages some of them need."""
