"""Flow maps: a project version's flow and block names, read from its project file (`.vf`)."""
