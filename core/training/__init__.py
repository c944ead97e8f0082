"""The training engine (torch side): one loop shared by every modality."""
