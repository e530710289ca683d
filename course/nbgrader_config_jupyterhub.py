"""nbgrader settings of a shared JupyterHub: copy this file to
/etc/jupyter/nbgrader_config.py on the hub (or into every user's image), so that
every user's nbgrader reads it: the students' Assignment List and `nbgrader
fetch_assignment`/`submit`/`fetch_feedback`, and the instructor's commands in
course/, which read course/nbgrader_config.py on top of it.

Exchange.root
    The folder through which `nbgrader release_assignment`, `fetch_assignment`,
    `submit`, `collect`, `release_feedback` and `fetch_feedback` pass files. Every
    user's server must see the same folder (a local folder on a one-machine hub, a
    volume mounted read-write into every user's pod on Kubernetes) and every user
    must be able to write into it. nbgrader does not create it for students; create
    it once, as root:
        mkdir -p /srv/nbgrader/exchange && chmod 0777 /srv/nbgrader/exchange
    Without it, students see "Unwritable directory, please contact your
    instructor" and the instructor's release fails.
CourseDirectory.course_id
    The course's folder in the exchange, and the course the Assignment List shows.
    It must be the id that course/nbgrader_config.py gives the course
    (cnn_course.course.grading.config.configure: "cnn_course"; a test checks both).
"""

c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.Exchange.root = "/srv/nbgrader/exchange"
c.CourseDirectory.course_id = "cnn_course"
