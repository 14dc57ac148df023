"""What both engines share, without QGIS: the words for job states and how servers are reached."""
