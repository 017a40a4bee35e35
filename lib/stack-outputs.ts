/**
 * The keys of the mloop stack's outputs (MloopStack.addOperatorOutputs): what `cdk deploy`
 * prints, what operators read with `aws cloudformation describe-stacks`, and what `mloop --stack`
 * finds the stack's resources by. They are a contract: renaming one breaks every reader.
 *
 * A module of its own, free of aws-cdk-lib, so that the CLI reads the keys without loading CDK.
 */
export const STACK_OUTPUTS = [
  'DataBucketName',
  'RegistryTableName',
  'StateMachineArn',
  'ApiUrl',
  'ModelsFunctionName',
  'DriftFunctionName',
  'EventsTopicArn',
  'EventBusName',
  'BatchStateMachineArn',
  'DashboardName',
] as const;

export type StackOutput = (typeof STACK_OUTPUTS)[number];
