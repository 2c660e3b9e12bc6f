"""Map data for the pages: the offline basemap and planned routes."""
