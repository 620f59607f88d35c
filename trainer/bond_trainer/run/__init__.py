"""The run folder and its writers: run.json, the record files and their locks (rundir.py), checkpoints,
the trackers (TensorBoard, W&B), the dashboard's chart declarations, the system monitor and the console."""
