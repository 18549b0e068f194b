"""Everything outside the box, simulated: tags, readers, gates, cards and a demo ILS."""
