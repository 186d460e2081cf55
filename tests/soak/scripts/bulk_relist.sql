-- bulk relist: every SOLD property of a random project back on the market (one statement)
SELECT soak.bulk_relist();
