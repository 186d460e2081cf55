-- SELECT real_estate.release_reservation(id) on one of the oldest expired reservations
SELECT soak.release_one(NULL);
