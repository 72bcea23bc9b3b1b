-- One database per service (the `database` each service declares, plus the services still to come), created on
-- the first start of an empty data volume. A test keeps this list equal to `devstack`'s.
CREATE DATABASE instagram_sync;
CREATE DATABASE lexoffice_bridge;
CREATE DATABASE notifier;
CREATE DATABASE stripe_gateway;
