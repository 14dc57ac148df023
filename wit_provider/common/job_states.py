"""One vocabulary for where a job stands, shared by the wire format, the pool, the journal and the outputs.

The same words appear in parsed WPS replies (JobStatus.state), in the journal's records and in
the output's ``wit_status``, so they are spelled once, here, as plain strings: they go into
QGIS attributes and SQLite as they are. No QGIS here.
"""

SUBMITTING = "submitting"  # journal only: the POST may be on the wire, its reply not yet recorded
ACCEPTED = "accepted"
STARTED = "started"
PAUSED = "paused"
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"  # never sent: no usable geometry, too large
TIMEOUT = "timeout"  # no result within the job's deadline
CANCELLED = "cancelled"  # the run stopped before the job ended

FINISHED = frozenset({SUCCEEDED, FAILED})  # what a status document reports last
OUTCOMES = (SUCCEEDED, FAILED, SKIPPED, TIMEOUT, CANCELLED)  # how a job ends: the values of wit_status
