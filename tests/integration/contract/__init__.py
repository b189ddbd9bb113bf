"""The connector contract suite: every connector against its own simulator."""
