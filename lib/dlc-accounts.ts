/**
 * The account that serves the AWS Deep Learning Containers (the PyTorch training image) in each
 * region. Most regions use 763104351884; opt-in regions, the China, GovCloud and ISO regions each
 * have their own. CDK's region facts know most of them; the ones its facts lack are listed here
 * (as SageMaker's image URI configuration lists them).
 */
import { CfnMapping, type Stack, Token } from 'aws-cdk-lib';
import { Fact, FactName, RegionInfo } from 'aws-cdk-lib/region-info';

/** The account of most regions. */
export const DLC_ACCOUNT = '763104351884';

/** Regions CDK's facts have no DLC account for. */
const MISSING_FROM_FACTS: Readonly<Record<string, string>> = {
  'af-south-1': '626614931356',
  'ap-northeast-3': '364406365360',
  'il-central-1': '780543022126',
  'us-gov-west-1': '442386744353',
  'us-iso-east-1': '886529160074',
  'us-isob-east-1': '094389454867',
};

/** Every region with a known DLC account. */
export function dlcAccounts(): Record<string, string> {
  const accounts: Record<string, string> = {};
  for (const region of RegionInfo.regions) {
    const account = region.dlcRepositoryAccount ?? MISSING_FROM_FACTS[region.name];
    if (account !== undefined) accounts[region.name] = account;
  }
  for (const [region, account] of Object.entries(MISSING_FROM_FACTS)) accounts[region] ??= account;
  return accounts;
}

/** Thrown at synth for a stack in a region with no known DLC account. */
export class NoDlcAccount extends Error {
  override readonly name = 'NoDlcAccount';
}

/**
 * The DLC account of the stack's region: the account itself for a stack with a region, else a
 * `Fn::FindInMap` into a mapping of every known region (an environment-agnostic stack deployed to
 * a region the mapping lacks fails at deploy, naming the mapping).
 */
export function dlcAccount(stack: Stack): string {
  const accounts = dlcAccounts();
  if (!Token.isUnresolved(stack.region)) {
    const account = accounts[stack.region] ?? Fact.find(stack.region, FactName.DLC_REPOSITORY_ACCOUNT);
    if (account === undefined)
      throw new NoDlcAccount(
        `No AWS Deep Learning Containers account is known for region ${stack.region}: give training.trainingImage (an ECR image URI the region can pull).`,
      );
    return account;
  }
  const existing = stack.node.tryFindChild('DlcAccounts') as CfnMapping | undefined;
  const mapping =
    existing ??
    new CfnMapping(stack, 'DlcAccounts', {
      mapping: Object.fromEntries(Object.entries(accounts).map(([region, account]) => [region, { account }])),
    });
  return mapping.findInMap(stack.region, 'account');
}
