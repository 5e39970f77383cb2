"""RQ entry points. Workers import these by dotted name; the web never imports this package."""
