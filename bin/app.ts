#!/usr/bin/env node
/** The CDK app: `npx cdk synth` / `npx cdk deploy`. Settings come from context (cdk.json or -c). */
import { App } from 'aws-cdk-lib';
import { buildApp } from '../lib/app';

const app = new App();
buildApp(app);
app.synth();
