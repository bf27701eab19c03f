"""What every layer shares to be observed: the request id of the work in hand, counters
waiting to be written to the catalog, and the cloud calls made. Imports nothing of slices-bi,
so the API, the catalog, the OpenStack adapter and the flows can all use it."""
