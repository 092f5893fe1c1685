"""kolla-pulumi: read the stack config, check it, declare the deployment, export post-deploy files."""

import pulumi

from components.config import load_stack_config
from components.deployment import Deployment

config = load_stack_config()
deployment = Deployment("kolla", config)

pulumi.export("admin_openrc", deployment.admin_openrc)
pulumi.export("clouds_yaml", deployment.clouds_yaml)
pulumi.export("summary", deployment.summary)
