-- SELECT real_estate.release_expired_reservations(50)
SELECT soak.release_expired(50);
