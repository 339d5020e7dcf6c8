//! ovs-ofctl compatible text for matches, actions and flow mods.
