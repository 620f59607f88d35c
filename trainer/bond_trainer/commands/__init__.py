"""The entry points: the `python -m bond_trainer` commands (cli.py) and what they run beyond training
(check, demo, pretrain)."""
