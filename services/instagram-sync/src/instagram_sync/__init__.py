"""instagram-sync: clients connect Instagram once; insights arrive on schedule by tier, inside Meta's budget."""
