"""The monitor's HTTP face: the alerting dashboard, its JSON API and its Prometheus metrics.

Flask only at the edge: views validate their input, read ``monitor.store`` (and the trends
computed from it) and shape HTML or JSON. ``monitor`` is any object with ``store``
(MonitorStore), ``topics`` (list of Topic), ``bucket`` (timedelta), ``scheduler``
(MonitorScheduler or None) and ``admin_token`` (the token admin actions need; None or
empty closes them; a monitor without the attribute uses the suite's ``admin_token`` setting)::

    bp = make_blueprint(monitor)
    Plugin(..., blueprint=bp, url_prefix="/finance", api_spec=api_spec)

The package, by part: ``blueprint.py`` (the blueprint), ``pages.py`` (pages and forms), ``api.py``
(JSON API and its OpenAPI spec), ``schemas.py`` (request and response models), ``dashboard.py``
(the data both show), ``guards.py`` (admin token), ``metrics.py`` (Prometheus) and
``query.py`` (query strings).

Pages (under the prefix): ``/`` topics with trend charts, ``/topics/<name>`` one topic's
sentiment chart and headlines, ``/alerts`` alerts with their evidence and the acknowledge /
silence actions, ``/jobs`` scheduler jobs, runs, errors and misses and each source's last
fetch. They refresh themselves every 30 s. Any other address below the prefix, an unknown topic, and a form
on an alert, article or job that is gone answer with an HTML "Not found" page (404); ``/api/...`` keeps JSON errors. Charts are drawn in the browser by Chart.js
(vendored in ``static/vendor`` with its licence; nothing is loaded from a CDN) from the same
JSON API that scripts use (``/api/...``, described at ``/finance/api/openapi/openapi.json``).

Admin actions (acknowledge, silence, run a job now, correct an article's sentiment) need the admin token: in the
``Authorization: Bearer`` or ``X-Admin-Token`` header for the JSON API, or, from the pages'
forms, in the form field ``token``. A cross-site form cannot know the token, and requests a
browser marks ``Sec-Fetch-Site: cross-site`` are refused outright, so the forms are CSRF-safe
without cookies.
"""

from .api import api_spec
from .blueprint import make_blueprint

__all__ = ["api_spec", "make_blueprint"]
