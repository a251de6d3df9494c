"""Background jobs that carry their tenant and actor, and run only while both still hold."""

from tenantry.jobs import once
from tenantry.jobs.runner import JobRefused, Jobs, UnknownJob, recheck
from tenantry.jobs.service import running, work

__all__ = ["JobRefused", "Jobs", "UnknownJob", "once", "recheck", "running", "work"]
