//! The fair-launch mint schedule.
