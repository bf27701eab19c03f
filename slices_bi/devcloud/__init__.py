"""devcloud: a local OpenStack-compatible cloud (Keystone v3, Nova v2.1, Glance v2,
Neutron v2.0) for the demo, the tests and the benchmarks.

The unmodified openstacksdk and ``openstack`` CLI work against it. Entry points:
:class:`slices_bi.devcloud.server.DevcloudServer` (background thread) and
:func:`slices_bi.devcloud.cli.run_devcloud` / :func:`slices_bi.devcloud.cli.main`.
"""
